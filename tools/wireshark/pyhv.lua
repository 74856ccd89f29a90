-- Wireshark / tshark dissector for the pyhv cluster protocol (docs/protocol.md, pyhv/cluster/wire.py):
-- EtherType 0x88B5, a 32-byte little-endian WireHeader, then the message payload (or one fragment of it).
--   tshark -X lua_script:tools/wireshark/pyhv.lua -r lan.pcap -Y pyhv -T fields -e pyhv.type -e pyhv.seq
-- or copy it to ~/.local/lib/wireshark/plugins/. Checks the header checksum (pyhv.csum_good) and names
-- every message type, including the host switch's MARKER.

local pyhv = Proto("pyhv", "pyhv cluster protocol")

local MSG_NAMES = {
    [0] = "ACK", [1] = "KEEPALIVE", [2] = "ANNOUNCE", [3] = "JOIN", [4] = "WELCOME",
    [5] = "CLUSTER_TABLE", [6] = "SETUP_DONE", [7] = "BOOT", [8] = "CLOCK_PROBE", [9] = "CLOCK_REPLY",
    [10] = "ECHO", [11] = "MARKER",
    [12] = "DSM_GET_S", [13] = "DSM_GET_X", [14] = "DSM_DATA", [15] = "DSM_GRANT_X", [16] = "DSM_INV",
    [17] = "DSM_INV_ACK", [18] = "DSM_RECALL", [19] = "DSM_RECALL_DATA", [20] = "DSM_PUT_S",
    [21] = "DSM_PUT_X", [22] = "DSM_PUT_ACK", [23] = "DSM_LOST",
    [24] = "MMIO", [25] = "SGI", [26] = "SPI", [27] = "GICD_CTLR", [28] = "KICK", [29] = "PSCI",
    [30] = "POWER", [31] = "VM_SPARE",
}
local NODE_NAMES = { [0xFFFF] = "none/broadcast" }

local f = pyhv.fields
f.magic = ProtoField.uint16("pyhv.magic", "Magic", base.HEX)
f.version = ProtoField.uint8("pyhv.version", "Version", base.DEC)
f.type = ProtoField.uint8("pyhv.type", "Message type", base.DEC, MSG_NAMES)
f.flags = ProtoField.uint8("pyhv.flags", "Flags", base.HEX)
f.flag_reliable = ProtoField.bool("pyhv.flags.reliable", "RELIABLE", 8, nil, 0x01)
f.flag_ack = ProtoField.bool("pyhv.flags.ack", "ACK", 8, nil, 0x02)
f.flag_reply = ProtoField.bool("pyhv.flags.reply", "REPLY", 8, nil, 0x04)
f.frag_index = ProtoField.uint8("pyhv.frag_index", "Fragment index", base.DEC)
f.frag_count = ProtoField.uint8("pyhv.frag_count", "Fragment count", base.DEC)
f.epochs = ProtoField.uint8("pyhv.epochs", "Stream epochs", base.HEX)
f.epoch_src = ProtoField.uint8("pyhv.epochs.src", "Sender epoch", base.DEC, nil, 0xF0)
f.epoch_dst = ProtoField.uint8("pyhv.epochs.dst", "Receiver epoch", base.DEC, nil, 0x0F)
f.src_node = ProtoField.uint16("pyhv.src_node", "Source node", base.DEC, NODE_NAMES)
f.dst_node = ProtoField.uint16("pyhv.dst_node", "Destination node", base.DEC, NODE_NAMES)
f.seq = ProtoField.uint32("pyhv.seq", "Sequence", base.DEC)
f.ack = ProtoField.uint32("pyhv.ack", "Ack (next expected)", base.DEC)
f.req_id = ProtoField.uint32("pyhv.req_id", "Request id", base.DEC)
f.payload_len = ProtoField.uint16("pyhv.payload_len", "Payload length", base.DEC)
f.msg_len = ProtoField.uint16("pyhv.msg_len", "Message length", base.DEC)
f.hdr_csum = ProtoField.uint16("pyhv.hdr_csum", "Header checksum", base.HEX)
f.csum_good = ProtoField.bool("pyhv.csum_good", "Header checksum good")
f.cluster_id = ProtoField.uint16("pyhv.cluster_id", "Cluster id", base.HEX)
f.payload = ProtoField.bytes("pyhv.payload", "Payload")
f.marker_id = ProtoField.uint64("pyhv.marker.id", "Marker id", base.DEC)
f.marker_ns = ProtoField.uint64("pyhv.marker.host_ns", "Switch host time (ns)", base.DEC)

local HDR_BYTES = 32

-- Plain arithmetic instead of bit operators: Wireshark 4.0 embeds Lua 5.2, later versions Lua 5.4.
local function has_flag(flags, bit)
    return math.floor(flags / bit) % 2 == 1
end
local MSG_MARKER = 11
local WIRE_VERSION = 2      -- pyhv/cluster/wire.py WIRE_VERSION

-- Ones' complement sum of the 16 little-endian halfwords, halfword 14 (the checksum) taken as 0.
local function header_csum(tvb)
    local total = 0
    for i = 0, 15 do
        if i ~= 14 then
            total = total + tvb(i * 2, 2):le_uint()
        end
    end
    while total > 0xFFFF do
        total = total % 0x10000 + math.floor(total / 0x10000)
    end
    return 0xFFFF - total
end

function pyhv.dissector(tvb, pinfo, tree)
    pinfo.cols.protocol = "PYHV"
    local subtree = tree:add(pyhv, tvb(), "pyhv cluster protocol")
    if tvb:len() < HDR_BYTES then
        subtree:add_expert_info(PI_MALFORMED, PI_ERROR, "truncated: " .. tvb:len() .. " of 32 header bytes")
        pinfo.cols.info = "pyhv (truncated header)"
        return
    end
    local msg_type = tvb(3, 1):uint()
    local flags = tvb(4, 1):uint()
    subtree:add_le(f.magic, tvb(0, 2))
    subtree:add_le(f.version, tvb(2, 1))
    subtree:add_le(f.type, tvb(3, 1))
    local ftree = subtree:add_le(f.flags, tvb(4, 1))
    ftree:add(f.flag_reliable, tvb(4, 1))
    ftree:add(f.flag_ack, tvb(4, 1))
    ftree:add(f.flag_reply, tvb(4, 1))
    subtree:add_le(f.frag_index, tvb(5, 1))
    subtree:add_le(f.frag_count, tvb(6, 1))
    local etree = subtree:add_le(f.epochs, tvb(7, 1))
    etree:add(f.epoch_src, tvb(7, 1))
    etree:add(f.epoch_dst, tvb(7, 1))
    subtree:add_le(f.src_node, tvb(8, 2))
    subtree:add_le(f.dst_node, tvb(10, 2))
    subtree:add_le(f.seq, tvb(12, 4))
    subtree:add_le(f.ack, tvb(16, 4))
    subtree:add_le(f.req_id, tvb(20, 4))
    subtree:add_le(f.payload_len, tvb(24, 2))
    subtree:add_le(f.msg_len, tvb(26, 2))
    local csum = tvb(28, 2):le_uint()
    subtree:add_le(f.hdr_csum, tvb(28, 2))
    local good = csum == header_csum(tvb)
    local citem = subtree:add(f.csum_good, good)
    citem:set_generated()
    if not good then
        citem:add_expert_info(PI_CHECKSUM, PI_ERROR, "bad header checksum")
    end
    subtree:add_le(f.cluster_id, tvb(30, 2))

    local payload_len = tvb(24, 2):le_uint()
    local avail = tvb:len() - HDR_BYTES
    if payload_len > avail then
        subtree:add_expert_info(PI_MALFORMED, PI_ERROR,
                                "payload_len " .. payload_len .. " > " .. avail .. " bytes left")
        payload_len = avail
    end
    if payload_len > 0 then
        subtree:add(f.payload, tvb(HDR_BYTES, payload_len))
    end
    if msg_type == MSG_MARKER and payload_len >= 16 then
        subtree:add_le(f.marker_id, tvb(HDR_BYTES, 8))
        subtree:add_le(f.marker_ns, tvb(HDR_BYTES + 8, 8))
    end

    local name = MSG_NAMES[msg_type] or ("type " .. msg_type)
    local info = name .. " " .. tvb(8, 2):le_uint() .. "->" .. tvb(10, 2):le_uint()
    if has_flag(flags, 1) then info = info .. " seq=" .. tvb(12, 4):le_uint() end
    if has_flag(flags, 2) then info = info .. " ack=" .. tvb(16, 4):le_uint() end
    if has_flag(flags, 4) then info = info .. " reply" end
    if tvb(20, 4):le_uint() ~= 0 then info = info .. " req=" .. tvb(20, 4):le_uint() end
    if tvb(6, 1):uint() > 1 then info = info .. " frag " .. tvb(5, 1):uint() .. "/" .. tvb(6, 1):uint() end
    info = info .. " len=" .. tvb(24, 2):le_uint() .. "/" .. tvb(26, 2):le_uint()
    if not good then info = info .. " [BAD CHECKSUM]" end
    if tvb(0, 2):le_uint() ~= 0x4850 then
        subtree:add_expert_info(PI_MALFORMED, PI_ERROR, "bad magic (expected 0x4850)")
        info = info .. " [BAD MAGIC]"
    end
    if tvb(2, 1):uint() ~= WIRE_VERSION then
        subtree:add_expert_info(PI_PROTOCOL, PI_WARN, "wire version " .. tvb(2, 1):uint() .. ", this dissector knows " ..
                                WIRE_VERSION)
        info = info .. " [VERSION " .. tvb(2, 1):uint() .. "]"
    end
    pinfo.cols.info = info
end

DissectorTable.get("ethertype"):add(0x88B5, pyhv)
