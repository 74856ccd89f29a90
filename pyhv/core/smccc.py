# SMC Calling Convention (Arm DEN 0028, SMCCC v1.1) for guest HVC/SMC traps (EC 0x16/0x17): decode the
# function id once, then hand the call to its owner. pyhv implements the Arm Architecture calls
# (SMCCC_VERSION, SMCCC_ARCH_FEATURES) and the Standard Secure Service range 0x00-0x1F, which is PSCI
# (vpsci.py). Everything else answers NOT_SUPPORTED (-1), which is what SMCCC requires for an unknown id.
#
# Function id (w0):
#   31     30      29:24          23:16           15:0
#   fast   SMC64   owning entity  0 (fast calls)  function number
#
# SMC32/HVC32 calls pass 32-bit arguments in w1..w3: the upper halves of x1..x3 are ignored.

from typing import Final

from pyhv.lang import Struct, u32, u64

from pyhv.core.vmconfig import VmConfig
from pyhv.core.vpsci import SMCCC_ACTION_RESUME, SmcccResult, vpsci_call

SMCCC_OWNER_ARCH: Final = u32(0)
SMCCC_OWNER_CPU: Final = u32(1)
SMCCC_OWNER_SIP: Final = u32(2)
SMCCC_OWNER_OEM: Final = u32(3)
SMCCC_OWNER_STANDARD: Final = u32(4)            # PSCI lives here, numbers 0x00-0x1F
SMCCC_OWNER_STANDARD_HYP: Final = u32(5)
SMCCC_OWNER_VENDOR_HYP: Final = u32(6)

SMCCC_FN_VERSION: Final = u32(0x0000)           # 0x80000000
SMCCC_FN_ARCH_FEATURES: Final = u32(0x0001)     # 0x80000001
SMCCC_VERSION_1_1: Final = u64(0x10001)
SMCCC_RET_SUCCESS: Final = u64(0)
SMCCC_RET_NOT_SUPPORTED: Final = u64(0xFFFFFFFFFFFFFFFF)   # -1
SMCCC_PSCI_LAST: Final = u32(0x1F)


class SmcccFid(Struct):
    fid: u32            # w0
    fast: bool          # bit 31: fast call (yielding calls are not supported)
    smc64: bool         # bit 30: SMC64/HVC64 convention
    owner: u32          # bits 29:24
    number: u32         # bits 15:0
    reserved_ok: bool   # bits 23:16 are zero, as fast calls require


def smccc_decode(x0: u64, out: SmcccFid) -> None:
    fid = u32(x0)
    out.fid = fid
    out.fast = (fid >> 31) != 0
    out.smc64 = ((fid >> 30) & 1) != 0
    out.owner = (fid >> 24) & 0x3F
    out.number = fid & 0xFFFF
    out.reserved_ok = ((fid >> 16) & 0xFF) == 0


def _arch_features(queried: u32) -> u64:
    # SMCCC_ARCH_FEATURES: our own two calls exist; the CPU vulnerability workarounds
    # (ARCH_WORKAROUND_1/2/3) and everything else are not implemented by this firmware.
    if queried == 0x80000000 or queried == 0x80000001:
        return SMCCC_RET_SUCCESS
    return SMCCC_RET_NOT_SUPPORTED


def smccc_handle(cfg: VmConfig, vcpu_id: u32, x0: u64, x1: u64, x2: u64, x3: u64, res: SmcccResult) -> None:
    # One guest HVC/SMC from vCPU `vcpu_id` with the guest's x0..x3; the value for x0 and what to do next
    # land in `res` (SMCCC_ACTION_* from vpsci.py).
    d = SmcccFid()
    smccc_decode(x0, d)
    res.x0 = SMCCC_RET_NOT_SUPPORTED
    res.action = SMCCC_ACTION_RESUME
    if not d.fast or not d.reserved_ok:
        return
    a1 = x1
    a2 = x2
    a3 = x3
    if not d.smc64:
        a1 = x1 & 0xFFFFFFFF
        a2 = x2 & 0xFFFFFFFF
        a3 = x3 & 0xFFFFFFFF
    if d.owner == SMCCC_OWNER_ARCH and not d.smc64:
        if d.number == SMCCC_FN_VERSION:
            res.x0 = SMCCC_VERSION_1_1
        elif d.number == SMCCC_FN_ARCH_FEATURES:
            res.x0 = _arch_features(u32(a1))
    elif d.owner == SMCCC_OWNER_STANDARD and d.number <= SMCCC_PSCI_LAST:
        vpsci_call(cfg, vcpu_id, d.number, d.smc64, a1, a2, a3, res)
