# The guest's PSCI 1.1 firmware (Arm DEN 0022, "Power State Coordination Interface", §5): what a guest
# HVC with a PSCI function id does. smccc.py decodes the call and hands the function number here.
#
# Per-vCPU state machine (one record per possible vCPU of the VM, under one lock):
#
#       CPU_ON (target OFF, present)          the target starts running (vpsci_vcpu_started)
#   OFF ────────────────────────────> ON_PENDING ────────────────────────────────────────────> ON
#    ^  <──────────── the core's cpu_on hook failed                                           │
#    └─────────────────────────────────────────────── CPU_OFF (called by the vCPU itself) ─────┘
#
# CPU_ON only records the entry point and context id and asks the core, through the VcpuPowerOps slot, to
# wake the physical CPU that runs the target (today: a CPU of this node; later: a CPU on another node).
# Possible-but-absent vCPUs (index >= nr_vcpus, their node has not joined) answer INTERNAL_FAILURE: Linux
# then keeps them offline and may retry from sysfs once they are present (see guest_fdt.py).
# CPU_SUSPEND is served as a standby state: the caller waits like WFI and returns SUCCESS (the guest FDT
# declares no idle states, so Linux only reaches it through explicit suspend paths).
# A VM spanning nodes (docs/cluster-vm.md "vPSCI"): each node's records are the truth only for its own
# vCPUs. CPU_ON and AFFINITY_INFO of a vCPU on another node go through the VpsciPeerOps slot
# (pyhv/core/remote_call.py: a request to that node, whose handler runs vpsci_cpu_on_local /
# vpsci_vcpu_state), so no node answers from a stale copy.
# Lock order: only `_vpsci.lock`; the power hook and the peer requests are always made with it released
# (only the peer's is_local, a table read, is called under it).

from typing import Annotated, Callable, Final

from pyhv.lang import range, Array, Ops, OpsSlot, SpinLock, Static, Struct, i32, i64, u32, u64

from pyhv.core.vmconfig import VM_MAX_VCPUS, VmConfig, vmconfig_find_mpidr, vmconfig_ipa_in_ram

VPSCI_VERSION_1_1: Final = u64(0x10001)         # major 1 [31:16], minor 1 [15:0]
VPSCI_MIGRATE_INFO_NOT_NEEDED: Final = u64(2)    # MIGRATE_INFO_TYPE: no Trusted OS needing migration

# PSCI function numbers (bits [4:0] of the function id; 0x84000000 | n SMC32, 0xC4000000 | n SMC64)
PSCI_FN_PSCI_VERSION: Final = u32(0x0)
PSCI_FN_CPU_SUSPEND: Final = u32(0x1)
PSCI_FN_CPU_OFF: Final = u32(0x2)
PSCI_FN_CPU_ON: Final = u32(0x3)
PSCI_FN_AFFINITY_INFO: Final = u32(0x4)
PSCI_FN_MIGRATE_INFO_TYPE: Final = u32(0x6)
PSCI_FN_SYSTEM_OFF: Final = u32(0x8)
PSCI_FN_SYSTEM_RESET: Final = u32(0x9)
PSCI_FN_PSCI_FEATURES: Final = u32(0xA)
PSCI_FID32_BASE: Final = u32(0x84000000)
PSCI_FID64_BASE: Final = u32(0xC4000000)
SMCCC_FID_VERSION: Final = u32(0x80000000)      # PSCI_FEATURES must report it (Linux probes SMCCC 1.1)

VPSCI_RET_SUCCESS: Final = i32(0)
VPSCI_RET_NOT_SUPPORTED: Final = i32(-1)
VPSCI_RET_INVALID_PARAMETERS: Final = i32(-2)
VPSCI_RET_DENIED: Final = i32(-3)
VPSCI_RET_ALREADY_ON: Final = i32(-4)
VPSCI_RET_ON_PENDING: Final = i32(-5)
VPSCI_RET_INTERNAL_FAILURE: Final = i32(-6)
VPSCI_RET_INVALID_ADDRESS: Final = i32(-9)

# vCPU power states; also the AFFINITY_INFO answers ON = 0, OFF = 1, ON_PENDING = 2
VPSCI_ON: Final = u32(0)
VPSCI_OFF: Final = u32(1)
VPSCI_ON_PENDING: Final = u32(2)

# What the trap handler does after an SMCCC call (SmcccResult.action)
SMCCC_ACTION_RESUME: Final = u32(0)     # write x0 and return to the guest
SMCCC_ACTION_VCPU_OFF: Final = u32(1)   # this vCPU is off: park its physical CPU until a CPU_ON
SMCCC_ACTION_STANDBY: Final = u32(2)    # write x0, wait as for WFI, then return to the guest
SMCCC_ACTION_HALT: Final = u32(3)       # the VM is being powered off or reset: do not resume

MPIDR_AFF_MASK_ALL: Final = u64(0xFF00FFFFFF)    # Aff3 [39:32], Aff2 [23:16], Aff1 [15:8], Aff0 [7:0]


class SmcccResult(Struct):
    x0: u64             # value for the guest's x0
    action: u32         # SMCCC_ACTION_*


class VpsciBoot(Struct):
    entry: u64          # where the started vCPU begins (EL1h, MMU off)
    context_id: u64     # its x0


class VpsciVcpu(Struct):
    state: u32
    entry: u64
    context_id: u64


class VpsciState(Struct):
    lock: SpinLock
    peers: bool         # vpsci_set_peer_ops was called: vCPUs on other nodes are asked there
    vcpus: Annotated[Array[VpsciVcpu], 64]


class VcpuPowerOps(Ops):
    cpu_on: Callable[[u32], i32]        # start running vCPU i (its entry is recorded here); PSCI status
    system_off: Callable[[], None]      # power the whole VM off (does not return on hardware)
    system_reset: Callable[[], None]    # reset the whole VM (does not return on hardware)


class VpsciPeerOps(Ops):
    is_local: Callable[[u32], bool]             # does vCPU i run on this node? (no waiting, no lock)
    cpu_on: Callable[[u32, u64, u64], i32]      # CPU_ON of vCPU i (entry, context id) asked of its node
    state: Callable[[u32], u32]                 # vCPU i's VPSCI_* state asked of its node


_vpsci: Final = Static(VpsciState)
_power: Final = OpsSlot(VcpuPowerOps)
_peer: Final = OpsSlot(VpsciPeerOps)


def vpsci_set_power_ops(ops: VcpuPowerOps) -> None:
    _power.set(ops)


def vpsci_set_peer_ops(ops: VpsciPeerOps) -> None:
    # After vpsci_init, on every node of a VM spanning nodes.
    _peer.set(ops)
    _vpsci.get().peers = True


def _is_remote(idx: u32) -> bool:
    return _vpsci.get().peers and not _peer.get().is_local(idx)


def vpsci_init(cfg: VmConfig, boot_vcpu: u32) -> None:
    # Every vCPU off except the boot vCPU, which the loader starts directly.
    st = _vpsci.get()
    with st.lock:
        for i in range(u32(0), VM_MAX_VCPUS):
            st.vcpus[i].state = VPSCI_OFF
            st.vcpus[i].entry = u64(0)
            st.vcpus[i].context_id = u64(0)
        st.vcpus[boot_vcpu].state = VPSCI_ON


def vpsci_vcpu_state(vcpu_id: u32) -> u32:
    if vcpu_id >= VM_MAX_VCPUS:
        return VPSCI_OFF                # no such vCPU (a remote caller's id is checked here too)
    return _vpsci.get().vcpus[vcpu_id].state


def vpsci_vcpu_started(vcpu_id: u32, boot: VpsciBoot) -> bool:
    # Called on the target's physical CPU when it begins running vCPU `vcpu_id` after a CPU_ON: marks it
    # ON and gives its entry point and context id. False if no CPU_ON is pending for it.
    st = _vpsci.get()
    ok = False
    with st.lock:
        v = st.vcpus[vcpu_id]
        if v.state == VPSCI_ON_PENDING:
            v.state = VPSCI_ON
            boot.entry = v.entry
            boot.context_id = v.context_id
            ok = True
    return ok


def _ret(res: SmcccResult, status: i32) -> None:
    res.x0 = u64(i64(status))           # sign-extended, as SMCCC returns negative codes
    res.action = SMCCC_ACTION_RESUME


def _supported(fn: u32, smc64: bool) -> bool:
    # The PSCI functions we implement, in the calling conventions the spec defines for them.
    if fn == PSCI_FN_CPU_SUSPEND or fn == PSCI_FN_CPU_ON or fn == PSCI_FN_AFFINITY_INFO:
        return True
    if smc64:
        return False
    return (fn == PSCI_FN_PSCI_VERSION or fn == PSCI_FN_CPU_OFF or fn == PSCI_FN_MIGRATE_INFO_TYPE
            or fn == PSCI_FN_SYSTEM_OFF or fn == PSCI_FN_SYSTEM_RESET or fn == PSCI_FN_PSCI_FEATURES)


def _features(fid: u32) -> i32:
    # PSCI_FEATURES: SUCCESS (0: for CPU_SUSPEND, original power_state format, no OS-initiated mode).
    if fid == SMCCC_FID_VERSION:
        return VPSCI_RET_SUCCESS
    if (fid & 0xFFFFFFE0) == PSCI_FID32_BASE and _supported(fid & 0x1F, False):
        return VPSCI_RET_SUCCESS
    if (fid & 0xFFFFFFE0) == PSCI_FID64_BASE and _supported(fid & 0x1F, True):
        return VPSCI_RET_SUCCESS
    return VPSCI_RET_NOT_SUPPORTED


def _cpu_on(cfg: VmConfig, target: u64, entry: u64, context_id: u64) -> i32:
    if (target & ~MPIDR_AFF_MASK_ALL) != 0:
        return VPSCI_RET_INVALID_PARAMETERS
    idx = vmconfig_find_mpidr(cfg, target)
    if idx == VM_MAX_VCPUS:
        return VPSCI_RET_INVALID_PARAMETERS
    if idx >= cfg.nr_vcpus:
        return VPSCI_RET_INTERNAL_FAILURE          # possible but absent: its node has not joined
    if not vmconfig_ipa_in_ram(cfg, entry, u64(4)):
        return VPSCI_RET_INVALID_ADDRESS
    if _is_remote(idx):
        return _peer.get().cpu_on(idx, entry, context_id)
    return vpsci_cpu_on_local(idx, entry, context_id)


def vpsci_cpu_on_local(idx: u32, entry: u64, context_id: u64) -> i32:
    # The state machine of CPU_ON for vCPU `idx` of this node (arguments already validated): SUCCESS and
    # the power hook wakes its CPU, or ALREADY_ON / ON_PENDING.
    st = _vpsci.get()
    status = VPSCI_RET_SUCCESS
    if idx >= VM_MAX_VCPUS:
        return VPSCI_RET_INVALID_PARAMETERS
    with st.lock:
        v = st.vcpus[idx]
        if v.state == VPSCI_ON:
            status = VPSCI_RET_ALREADY_ON
        elif v.state == VPSCI_ON_PENDING:
            status = VPSCI_RET_ON_PENDING
        else:
            v.state = VPSCI_ON_PENDING
            v.entry = entry
            v.context_id = context_id
    if status != VPSCI_RET_SUCCESS:
        return status
    if _power.get().cpu_on(idx) != VPSCI_RET_SUCCESS:
        with st.lock:
            st.vcpus[idx].state = VPSCI_OFF
        return VPSCI_RET_INTERNAL_FAILURE
    return VPSCI_RET_SUCCESS


def _affinity_mask(level: u64) -> u64:
    # Affinity fields at or above `level` (0..3); 0 for an invalid level.
    if level == 0:
        return MPIDR_AFF_MASK_ALL
    if level == 1:
        return u64(0xFF00FFFF00)
    if level == 2:
        return u64(0xFF00FF0000)
    if level == 3:
        return u64(0xFF00000000)
    return u64(0)


def _affinity_info(cfg: VmConfig, target: u64, level: u64) -> i32:
    # ON if any vCPU of the affinity instance is on, else ON_PENDING if any is pending, else OFF.
    mask = _affinity_mask(level)
    if mask == 0 or (target & ~MPIDR_AFF_MASK_ALL) != 0:
        return VPSCI_RET_INVALID_PARAMETERS
    st = _vpsci.get()
    matched = False
    any_on = False
    any_pending = False
    remote = u64(0)                     # matched vCPUs of other nodes: asked there, after the lock
    with st.lock:
        for i in range(u32(0), cfg.max_vcpus):
            if (cfg.vcpus[i].mpidr & mask) == (target & mask):
                matched = True
                if i < cfg.nr_vcpus and _is_remote(i):
                    remote = remote | (u64(1) << i)
                else:
                    state = st.vcpus[i].state
                    any_on = any_on or state == VPSCI_ON
                    any_pending = any_pending or state == VPSCI_ON_PENDING
    for i in range(u32(0), cfg.nr_vcpus):
        if ((remote >> i) & 1) != 0:
            rstate = _peer.get().state(i)
            any_on = any_on or rstate == VPSCI_ON
            any_pending = any_pending or rstate == VPSCI_ON_PENDING
    if not matched:
        return VPSCI_RET_INVALID_PARAMETERS
    if any_on:
        return i32(VPSCI_ON)
    if any_pending:
        return i32(VPSCI_ON_PENDING)
    return i32(VPSCI_OFF)


def vpsci_call(cfg: VmConfig, vcpu_id: u32, fn: u32, smc64: bool, a1: u64, a2: u64, a3: u64,
               res: SmcccResult) -> None:
    # PSCI function `fn` (bits [4:0] of the id) from vCPU `vcpu_id`; arguments already narrowed to 32 bits
    # for SMC32 calls. Result and follow-up action in `res`.
    if not _supported(fn, smc64):
        _ret(res, VPSCI_RET_NOT_SUPPORTED)
    elif fn == PSCI_FN_PSCI_VERSION:
        _ret(res, VPSCI_RET_SUCCESS)
        res.x0 = VPSCI_VERSION_1_1
    elif fn == PSCI_FN_PSCI_FEATURES:
        _ret(res, _features(u32(a1)))
    elif fn == PSCI_FN_CPU_ON:
        _ret(res, _cpu_on(cfg, a1, a2, a3))
    elif fn == PSCI_FN_AFFINITY_INFO:
        _ret(res, _affinity_info(cfg, a1, a2))
    elif fn == PSCI_FN_CPU_SUSPEND:
        _ret(res, VPSCI_RET_SUCCESS)
        res.action = SMCCC_ACTION_STANDBY
    elif fn == PSCI_FN_CPU_OFF:
        if vcpu_id >= cfg.nr_vcpus:
            # No such caller (an id forwarded from another node, say): refuse and resume, never index.
            _ret(res, VPSCI_RET_DENIED)
        else:
            st = _vpsci.get()
            with st.lock:
                st.vcpus[vcpu_id].state = VPSCI_OFF
            _ret(res, VPSCI_RET_SUCCESS)
            res.action = SMCCC_ACTION_VCPU_OFF
    elif fn == PSCI_FN_MIGRATE_INFO_TYPE:
        _ret(res, VPSCI_RET_SUCCESS)
        res.x0 = VPSCI_MIGRATE_INFO_NOT_NEEDED
    elif fn == PSCI_FN_SYSTEM_OFF:
        _ret(res, VPSCI_RET_SUCCESS)
        res.action = SMCCC_ACTION_HALT
        _power.get().system_off()
    else:
        _ret(res, VPSCI_RET_SUCCESS)           # SYSTEM_RESET, the last supported function
        res.action = SMCCC_ACTION_HALT
        _power.get().system_reset()
