# The GICv3 CPU-interface system registers that need pyhv: SGI generation (ARM IHI 0069H §12.2,
# ICC_SGI1R_EL1 / ICC_SGI0R_EL1 / ICC_ASGI1R_EL1).
#
# Why only these trap: with HCR_EL2.IMO = HCR_EL2.FMO = 1 (set for every guest, it also routes physical
# IRQs to EL2), the guest's ICC_* accesses at EL1 reach the virtual CPU interface (ICV_* registers backed
# by ICH_LR/ICH_VMCR) in hardware: acknowledge, EOI, PMR, BPR, group enables never exit. There is no
# virtual SGI register, and the spec's access pseudocode for ICC_SGI1R_EL1 / ICC_ASGI1R_EL1 (IMO) and
# ICC_SGI0R_EL1 (FMO) makes EL1 writes trap to EL2 with EC 0x18 whenever that routing bit is set; no
# ICH_HCR_EL2 bit is needed (ICH_HCR_EL2.TC would additionally trap the common registers, TALL0/TALL1 the
# group registers; we set neither). pyhv/arch/sysreg_trap.py decodes the EC 0x18 syndrome and calls
# vgicv3_sgi_write with the written value.
#
#   ICC_SGI1R_EL1:  55-48 Aff3 | 47-44 RS | 40 IRM | 39-32 Aff2 | 27-24 INTID | 23-16 Aff1 | 15-0 TargetList
#   IRM = 1: every vCPU but the writer; else vCPU (Aff3.Aff2.Aff1.(RS * 16 + n)) for each TargetList bit n.
# Targets on other nodes (Aff1 = node) get one message per node (pyhv/vdev/vgic_remote.py).

from typing import Final

from pyhv.lang import range, u32, u64

from pyhv.vdev.vgic import VGIC_NO_VCPU, vgic_state, vgic_vcpu_by_mpidr
from pyhv.vdev.vgic_remote import VGIC_SGI_GROUP0, VGIC_SGI_GROUP1, vgic_remote_send_sgis

ICC_SGIR_TARGETLIST_MASK: Final = u64(0xFFFF)
ICC_SGIR_AFF1_SHIFT: Final = u64(16)
ICC_SGIR_INTID_SHIFT: Final = u64(24)
ICC_SGIR_INTID_MASK: Final = u64(0xF)
ICC_SGIR_AFF2_SHIFT: Final = u64(32)
ICC_SGIR_IRM: Final = u64(1 << 40)
ICC_SGIR_RS_SHIFT: Final = u64(44)
ICC_SGIR_RS_MASK: Final = u64(0xF)
ICC_SGIR_AFF3_SHIFT: Final = u64(48)
ICC_SGIR_AFF_MASK: Final = u64(0xFF)


def vgicv3_sgi_write(vcpu: u32, value: u64, group1: bool) -> u32:
    # A trapped write of ICC_SGI1R_EL1 (group1 = True) or ICC_SGI0R_EL1 / ICC_ASGI1R_EL1 (False) by `vcpu`.
    # Returns the number of SGIs raised (targets that do not exist are ignored, as on hardware; targets on
    # other nodes count as raised: their node checks the group, pyhv/vdev/vgic_remote.py).
    st = vgic_state()
    intid = u32((value >> ICC_SGIR_INTID_SHIFT) & ICC_SGIR_INTID_MASK)
    group = VGIC_SGI_GROUP1 if group1 else VGIC_SGI_GROUP0
    mask = u64(0)
    if (value & ICC_SGIR_IRM) != 0:
        for v in range(u32(0), st.nr_vcpus):
            if u32(v) != vcpu:
                mask = mask | (u64(1) << v)
        return vgic_remote_send_sgis(vcpu, intid, group, mask)
    aff = (((value >> ICC_SGIR_AFF3_SHIFT) & ICC_SGIR_AFF_MASK) << 32) \
        | (((value >> ICC_SGIR_AFF2_SHIFT) & ICC_SGIR_AFF_MASK) << 16) \
        | (((value >> ICC_SGIR_AFF1_SHIFT) & ICC_SGIR_AFF_MASK) << 8)
    base = ((value >> ICC_SGIR_RS_SHIFT) & ICC_SGIR_RS_MASK) * 16
    targets = value & ICC_SGIR_TARGETLIST_MASK
    for n in range(u32(0), u32(16)):
        if ((targets >> u32(n)) & 1) != 0:
            dst = vgic_vcpu_by_mpidr(aff | (base + u64(n)))
            if dst != VGIC_NO_VCPU:
                mask = mask | (u64(1) << dst)
    return vgic_remote_send_sgis(vcpu, intid, group, mask)
