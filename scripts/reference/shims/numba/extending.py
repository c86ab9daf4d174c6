"""get_cython_function_address: the address of scipy's cython gammaln (as numba.extending gives it)."""
import ctypes


def get_cython_function_address(module, name):
    import importlib
    m = importlib.import_module(module)
    cap = m.__pyx_capi__[name]
    ctypes.pythonapi.PyCapsule_GetName.restype = ctypes.c_char_p
    ctypes.pythonapi.PyCapsule_GetName.argtypes = [ctypes.py_object]
    n = ctypes.pythonapi.PyCapsule_GetName(cap)
    ctypes.pythonapi.PyCapsule_GetPointer.restype = ctypes.c_void_p
    ctypes.pythonapi.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    return ctypes.pythonapi.PyCapsule_GetPointer(cap, n)
