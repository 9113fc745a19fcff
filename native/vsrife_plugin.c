/*
 * The `rife` namespace for VapourSynth: core.rife.RIFE(clip, multi, scale, ...) in any script.
 *
 * VapourSynth has no Python API to register a plugin namespace, so this small API4 plugin does it and
 * forwards every call to the Python implementation (vsrife.filter.RIFE):
 *
 *   1. The first call imports the Python module `vsrife.vsplugin`. It resolves the few CPython symbols it
 *      needs at run time with dlsym(RTLD_DEFAULT, ...) (vsscript loads libpython globally, and a python
 *      executable exports them), so the library does not link libpython and loads in any host.
 *   2. On import, that module calls core.rife.RegisterImplementation(impl=<python callable>). VapourSynth
 *      turns the callable into a VSFunction, which this library keeps.
 *   3. RIFE then hands its arguments to that VSFunction with callFunction (VapourSynth's trampoline takes
 *      the GIL and converts the map to keyword arguments) and returns the clip it gives back (key "val").
 *      The implementation reports a user error as the string under "error", which becomes the
 *      VapourSynth error text as it is; anything else that fails comes back with its traceback.
 *
 * A host without an initialised Python gets a clear error instead of a crash.
 */

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "VapourSynth4.h"

#define PLUGIN_ID "io.github.vsrife"
#define PYTHON_MODULE "vsrife.vsplugin"

typedef struct PyObject PyObject;

/* The CPython entry points we use, resolved at run time. */
typedef struct {
    int (*Py_IsInitialized)(void);
    int (*PyGILState_Ensure)(void);
    void (*PyGILState_Release)(int);
    PyObject *(*PyImport_ImportModule)(const char *);
    PyObject *(*PyErr_GetRaisedException)(void);
    PyObject *(*PyObject_Str)(PyObject *);
    const char *(*PyUnicode_AsUTF8)(PyObject *);
    void (*Py_DecRef)(PyObject *);
} PythonAPI;

static PythonAPI py;
static int py_resolved = 0;

/* The Python implementation handed to us by RegisterImplementation, shared by every core. */
static VSFunction *implementation = NULL;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int resolve_python(void) {
    if (py_resolved)
        return 1;
#define RESOLVE(name)                                                                                      \
    if (!(*(void **)&py.name = dlsym(RTLD_DEFAULT, #name)))                                                \
        return 0;
    RESOLVE(Py_IsInitialized)
    RESOLVE(PyGILState_Ensure)
    RESOLVE(PyGILState_Release)
    RESOLVE(PyImport_ImportModule)
    RESOLVE(PyErr_GetRaisedException)
    RESOLVE(PyObject_Str)
    RESOLVE(PyUnicode_AsUTF8)
    RESOLVE(Py_DecRef)
#undef RESOLVE
    py_resolved = 1;
    return 1;
}

/* Import the Python side, which registers the implementation. Writes an error message on failure. */
static void import_implementation(char *error, size_t size) {
    if (!resolve_python() || !py.Py_IsInitialized()) {
        snprintf(error, size,
                 "RIFE: this host has no Python interpreter; vsrife is written in Python. "
                 "Use it from a .vpy script (vspipe, mpv, an editor) or from Python.");
        return;
    }
    int gil = py.PyGILState_Ensure();
    PyObject *module = py.PyImport_ImportModule(PYTHON_MODULE);
    if (module) {
        py.Py_DecRef(module);
    } else {
        PyObject *exc = py.PyErr_GetRaisedException();
        PyObject *text = exc ? py.PyObject_Str(exc) : NULL;
        const char *message = text ? py.PyUnicode_AsUTF8(text) : NULL;
        snprintf(error, size,
                 "RIFE: could not import the Python package vsrife (%s). Install vsrife into the Python "
                 "environment that runs VapourSynth.",
                 message ? message : "unknown error");
        if (text)
            py.Py_DecRef(text);
        if (exc)
            py.Py_DecRef(exc);
    }
    py.PyGILState_Release(gil);
}

static void VS_CC registerImplementation(const VSMap *in, VSMap *out, void *userData, VSCore *core,
                                         const VSAPI *vsapi) {
    (void)out;
    (void)userData;
    (void)core;
    VSFunction *func = vsapi->mapGetFunction(in, "impl", 0, NULL);
    pthread_mutex_lock(&lock);
    VSFunction *old = implementation;
    implementation = func;
    pthread_mutex_unlock(&lock);
    if (old)
        vsapi->freeFunction(old);
}

static VSFunction *get_implementation(const VSAPI *vsapi, char *error, size_t size) {
    pthread_mutex_lock(&lock);
    VSFunction *func = implementation ? vsapi->addFunctionRef(implementation) : NULL;
    pthread_mutex_unlock(&lock);
    if (func)
        return func;
    /* Not under the lock: the import calls back into registerImplementation. */
    import_implementation(error, size);
    pthread_mutex_lock(&lock);
    func = implementation ? vsapi->addFunctionRef(implementation) : NULL;
    pthread_mutex_unlock(&lock);
    if (!func && !error[0])
        snprintf(error, size, "RIFE: the Python package vsrife did not register its implementation.");
    return func;
}

static void VS_CC rifeCreate(const VSMap *in, VSMap *out, void *userData, VSCore *core, const VSAPI *vsapi) {
    (void)userData;
    (void)core;
    char error[1024] = {0};
    VSFunction *func = get_implementation(vsapi, error, sizeof error);
    if (!func) {
        vsapi->mapSetError(out, error);
        return;
    }
    VSMap *result = vsapi->createMap();
    vsapi->callFunction(func, in, result);
    vsapi->freeFunction(func);
    const char *failure = vsapi->mapGetError(result);
    int err = 0;
    const char *message = failure ? NULL : vsapi->mapGetData(result, "error", 0, &err);
    if (failure) {
        vsapi->mapSetError(out, failure);
    } else if (message) {
        vsapi->mapSetError(out, message);
    } else {
        VSNode *node = vsapi->mapGetNode(result, "val", 0, &err);
        if (err)
            vsapi->mapSetError(out, "RIFE: the Python implementation did not return a clip.");
        else
            vsapi->mapConsumeNode(out, "clip", node, maReplace);
    }
    vsapi->freeMap(result);
}

VS_EXTERNAL_API(void) VapourSynthPluginInit2(VSPlugin *plugin, const VSPLUGINAPI *vspapi) {
    vspapi->configPlugin(PLUGIN_ID, "rife", "RIFE frame interpolation (vsrife, PyTorch)", VS_MAKE_VERSION(1, 0),
                         VAPOURSYNTH_API_VERSION, 0, plugin);
    vspapi->registerFunction("RIFE", "clip:vnode;multi:int:opt;scale:float:opt;any", "clip:vnode;", rifeCreate,
                             NULL, plugin);
    vspapi->registerFunction("RegisterImplementation", "impl:func;", "", registerImplementation, NULL, plugin);
}
