#!/usr/bin/env python3
"""Wall and CPU time of the NVML calls jobcarbon could use to read a GPU's energy.

Usage: python3 call_cost.py [--nvml-lib PATH] [--calls N]
Prints one line per call: wall median/p99 us, CPU (this thread) per call us, and for field
values whether the call is supported. CPU time tells whether a slow call burns a core or waits
(in the driver, on the GPU's management controller).
"""
import argparse, ctypes, statistics, time

FI_TOTAL_ENERGY = 83   # NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION, mJ
FI_POWER_INSTANT = 186  # NVML_FI_DEV_POWER_INSTANT, mW
FI_POWER_AVERAGE = 185  # NVML_FI_DEV_POWER_AVERAGE, mW

class Value(ctypes.Union):
    _fields_ = [("dVal", ctypes.c_double), ("uiVal", ctypes.c_uint), ("ulVal", ctypes.c_ulong),
                ("ullVal", ctypes.c_ulonglong), ("sllVal", ctypes.c_longlong)]

class FieldValue(ctypes.Structure):
    _fields_ = [("fieldId", ctypes.c_uint), ("scopeId", ctypes.c_uint),
                ("timestamp", ctypes.c_longlong), ("latencyUsec", ctypes.c_longlong),
                ("valueType", ctypes.c_int), ("nvmlReturn", ctypes.c_int), ("value", Value)]

def measure(name, fn, calls):
    wall = []
    cpu0 = time.thread_time()
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        wall.append(time.perf_counter() - t)
    cpu = time.thread_time() - cpu0
    wall.sort()
    p99 = wall[min(len(wall) - 1, int(0.99 * len(wall)))]
    print(f"{name:44s} wall median {statistics.median(wall)*1e6:9.2f} us  p99 {p99*1e6:9.2f} us"
          f"  cpu {cpu/calls*1e6:9.2f} us/call  ({calls} calls)", flush=True)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nvml-lib", default="libnvidia-ml.so.1")
    ap.add_argument("--calls", type=int, default=200)
    a = ap.parse_args()
    lib = ctypes.CDLL(a.nvml_lib)
    assert lib.nvmlInit_v2() == 0, "nvmlInit_v2 failed"
    dev = ctypes.c_void_p()
    assert lib.nvmlDeviceGetHandleByIndex_v2(0, ctypes.byref(dev)) == 0
    e = ctypes.c_ulonglong(); p = ctypes.c_uint()
    def energy():
        assert lib.nvmlDeviceGetTotalEnergyConsumption(dev, ctypes.byref(e)) == 0
    def power():
        assert lib.nvmlDeviceGetPowerUsage(dev, ctypes.byref(p)) == 0
    measure("nvmlDeviceGetTotalEnergyConsumption", energy, a.calls)
    measure("nvmlDeviceGetPowerUsage", power, a.calls)
    if not hasattr(lib, "nvmlDeviceGetFieldValues"):
        print("nvmlDeviceGetFieldValues: not exported")
    else:
        for fid, label in ((FI_TOTAL_ENERGY, "TOTAL_ENERGY_CONSUMPTION"),
                           (FI_POWER_INSTANT, "POWER_INSTANT"), (FI_POWER_AVERAGE, "POWER_AVERAGE")):
            v = FieldValue(); v.fieldId = fid
            rc = lib.nvmlDeviceGetFieldValues(dev, 1, ctypes.byref(v))
            if rc != 0 or v.nvmlReturn != 0:
                print(f"FieldValues({label}): unsupported (rc {rc}, nvmlReturn {v.nvmlReturn})")
                continue
            def fv(v=v, fid=fid):
                v.fieldId = fid
                lib.nvmlDeviceGetFieldValues(dev, 1, ctypes.byref(v))
            measure(f"FieldValues({label})", fv, a.calls)
            print(f"  value {v.value.ullVal if fid == FI_TOTAL_ENERGY else v.value.uiVal}"
                  f" type {v.valueType} latencyUsec {v.latencyUsec}")
        # both at once: one call for energy and instant power
        arr = (FieldValue * 2)(); arr[0].fieldId = FI_TOTAL_ENERGY; arr[1].fieldId = FI_POWER_INSTANT
        def both():
            arr[0].fieldId = FI_TOTAL_ENERGY; arr[1].fieldId = FI_POWER_INSTANT
            lib.nvmlDeviceGetFieldValues(dev, 2, arr)
        measure("FieldValues(TOTAL_ENERGY + POWER_INSTANT)", both, a.calls)
    # does the energy read get cheaper when called again within the counter's 100 ms period?
    t0 = time.perf_counter(); energy(); t1 = time.perf_counter(); energy(); t2 = time.perf_counter()
    print(f"two energy reads back to back: {(t1-t0)*1e6:.0f} us then {(t2-t1)*1e6:.0f} us")
    lib.nvmlShutdown()

main()
