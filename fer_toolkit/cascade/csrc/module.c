/* The shared library of the cascade's compiled loops, as an (empty) extension module.
 *
 * The loops are plain C functions (split_search.c, window_eval.c) called through
 * ctypes (fer_toolkit/cascade/_native.py); this module only lets Python find and load
 * the library by its import name. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_ckernels",
    "The cascade trainer's and evaluator's compiled loops (called through ctypes).", -1, NULL,
};

PyMODINIT_FUNC PyInit__ckernels(void) { return PyModule_Create(&module); }
