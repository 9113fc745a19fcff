"""Training for the ECCV 2022 RIFE networks (``python -m training``), on top of :mod:`vsrife.arch`.

Modules: ``data`` (Vimeo90K-layout datasets and augmentation), ``losses`` (LapLoss), ``vsrife.metrics``
(PSNR/SSIM/IE as published), ``schedule`` (warm-up + cosine), ``trainer`` (the DDP loop and checkpoints),
``evaluate`` (the published benchmarks), ``make_dataset`` (datasets from your own videos), ``export``.
"""
