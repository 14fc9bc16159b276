"""NVML read independently of jobcarbon, for the GPU validation: through the pynvml module where it
is importable, else through ctypes on libnvidia-ml.so.1 (the same C functions, so it also works
with the tests' fake NVML, which has no pynvml behind it).

Only the calls the validation needs: handle by index, name, UUID, the energy counter (mJ), power
usage (mW) and the instant-power field value (mW, NVML_FI_DEV_POWER_INSTANT). A call the library
does not have or the GPU does not support raises Unsupported with the reason, never crashes.
"""

import ctypes
import os

NVML_SUCCESS = 0
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_FUNCTION_NOT_FOUND = 13
# nvml.h: #define NVML_FI_DEV_POWER_INSTANT 186 (current instantaneous power, mW; H100 and newer
# drivers; nvmlDeviceGetPowerUsage is a 1 s average on Ampere and newer except GA100).
NVML_FI_DEV_POWER_INSTANT = 186


class NvmlError(Exception):
    """An NVML call failed with code `code`."""

    def __init__(self, call, code, text=""):
        super().__init__(f"{call}: {text or 'NVML error'} (NVML error {code})")
        self.code = code


class Unsupported(Exception):
    """The call is not available: missing from the library or not supported by the GPU."""


# nvmlValue_t and nvmlFieldValue_t, as nvml.h declares them.
class _Value(ctypes.Union):
    _fields_ = [("dVal", ctypes.c_double), ("uiVal", ctypes.c_uint), ("ulVal", ctypes.c_ulong),
                ("ullVal", ctypes.c_ulonglong), ("sllVal", ctypes.c_longlong),
                ("siVal", ctypes.c_int), ("usVal", ctypes.c_ushort)]


class _FieldValue(ctypes.Structure):
    _fields_ = [("fieldId", ctypes.c_uint32), ("scopeId", ctypes.c_uint32),
                ("timestamp", ctypes.c_int64), ("latencyUsec", ctypes.c_int64),
                ("valueType", ctypes.c_int), ("nvmlReturn", ctypes.c_int), ("value", _Value)]


def _field_number(fv):
    """Return the value of an nvmlFieldValue_t by its nvmlValueType_t."""
    member = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal",
              6: "usVal"}.get(int(fv.valueType), "uiVal")
    return getattr(fv.value, member)


class CtypesReader:
    backend = "ctypes"

    def __init__(self, library="libnvidia-ml.so.1"):
        self.library = library
        self._lib = ctypes.CDLL(library)
        self._lib.nvmlErrorString.restype = ctypes.c_char_p
        self._check("nvmlInit_v2", self._lib.nvmlInit_v2())

    def _text(self, code):
        try:
            return (self._lib.nvmlErrorString(code) or b"").decode(errors="replace")
        except Exception:  # noqa: BLE001 - a broken error string must not hide the code
            return ""

    def _check(self, call, code):
        if code == NVML_ERROR_NOT_SUPPORTED:
            raise Unsupported(f"{call}: Not Supported")
        if code != NVML_SUCCESS:
            raise NvmlError(call, code, self._text(code))

    def _fn(self, name):
        try:
            return getattr(self._lib, name)
        except AttributeError:
            raise Unsupported(f"{name} is not exported by {self.library}") from None

    def handle(self, index):
        h = ctypes.c_void_p()
        self._check("nvmlDeviceGetHandleByIndex_v2",
                    self._fn("nvmlDeviceGetHandleByIndex_v2")(ctypes.c_uint(index), ctypes.byref(h)))
        return h

    def _string(self, call, h):
        buf = ctypes.create_string_buffer(96)
        self._check(call, self._fn(call)(h, buf, ctypes.c_uint(len(buf))))
        return buf.value.decode(errors="replace")

    def name(self, h):
        return self._string("nvmlDeviceGetName", h)

    def uuid(self, h):
        return self._string("nvmlDeviceGetUUID", h)

    def energy_mj(self, h):
        v = ctypes.c_ulonglong()
        self._check("nvmlDeviceGetTotalEnergyConsumption",
                    self._fn("nvmlDeviceGetTotalEnergyConsumption")(h, ctypes.byref(v)))
        return v.value

    def power_mw(self, h):
        v = ctypes.c_uint()
        self._check("nvmlDeviceGetPowerUsage", self._fn("nvmlDeviceGetPowerUsage")(h, ctypes.byref(v)))
        return v.value

    def power_instant_mw(self, h):
        fn = self._fn("nvmlDeviceGetFieldValues")
        fv = _FieldValue()
        fv.fieldId = NVML_FI_DEV_POWER_INSTANT
        self._check("nvmlDeviceGetFieldValues", fn(h, ctypes.c_int(1), ctypes.byref(fv)))
        self._check("nvmlDeviceGetFieldValues(NVML_FI_DEV_POWER_INSTANT)", fv.nvmlReturn)
        return _field_number(fv)

    def close(self):
        self._lib.nvmlShutdown()


class PynvmlReader:
    backend = "pynvml"

    def __init__(self, pynvml):
        self._nv = pynvml
        self._nv.nvmlInit()
        self.library = "libnvidia-ml.so.1 (pynvml)"

    def _call(self, name, *args):
        nv = self._nv
        try:
            return getattr(nv, name)(*args)
        except AttributeError:
            raise Unsupported(f"{name} is not in this pynvml") from None
        except nv.NVMLError as e:
            if e.value in (NVML_ERROR_NOT_SUPPORTED, NVML_ERROR_FUNCTION_NOT_FOUND):
                raise Unsupported(f"{name}: {e}") from None
            raise NvmlError(name, e.value, str(e)) from None

    def handle(self, index):
        return self._call("nvmlDeviceGetHandleByIndex", index)

    def name(self, h):
        v = self._call("nvmlDeviceGetName", h)
        return v.decode() if isinstance(v, bytes) else v

    def uuid(self, h):
        v = self._call("nvmlDeviceGetUUID", h)
        return v.decode() if isinstance(v, bytes) else v

    def energy_mj(self, h):
        return self._call("nvmlDeviceGetTotalEnergyConsumption", h)

    def power_mw(self, h):
        return self._call("nvmlDeviceGetPowerUsage", h)

    def power_instant_mw(self, h):
        fv = self._call("nvmlDeviceGetFieldValues", h, [NVML_FI_DEV_POWER_INSTANT])[0]
        if fv.nvmlReturn == NVML_ERROR_NOT_SUPPORTED:
            raise Unsupported("nvmlDeviceGetFieldValues(NVML_FI_DEV_POWER_INSTANT): Not Supported")
        if fv.nvmlReturn != NVML_SUCCESS:
            raise NvmlError("nvmlDeviceGetFieldValues(NVML_FI_DEV_POWER_INSTANT)", fv.nvmlReturn)
        return _field_number(fv)

    def close(self):
        self._nv.nvmlShutdown()


def open_reader(backend="auto", library=None):
    """Return an initialised reader: pynvml for "auto" when importable and no library is named,
    else ctypes on `library` (default libnvidia-ml.so.1)."""
    if backend in ("auto", "pynvml") and library is None:
        try:
            import pynvml  # noqa: PLC0415 - optional on purpose
        except ImportError:
            if backend == "pynvml":
                raise
        else:
            return PynvmlReader(pynvml)
    return CtypesReader(library or "libnvidia-ml.so.1")


def loaded_nvml_path():
    """Return the path of the libnvidia-ml this process has mapped, or None."""
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                if "libnvidia-ml.so" in os.path.basename(path):
                    return path
    except OSError:
        pass
    return None
