/* A flat (non-Image) bare-metal guest whose BSS and stack lie past the end of its file (issue 13 item 4):
 * it is linked at 0x40080000 (QEMU virt's RAM + 0x80000, where QEMU and pyhv load a raw binary), zeroes
 * and then fills its 16 MiB BSS, and only then reads what the loader gave it through the DTB in x0:
 * /chosen bootargs and linux,initrd-start/-end. A loader that put the initrd or the DTB right after the
 * file would see them overwritten. Prints on the PL011 at 0x09000000:
 *   raw-guest: bss 0x<start>-0x<end> sp 0x<sp>
 *   raw-guest: bootargs <text>
 *   raw-guest: initrd 0x<start> <len> bytes fnv1a 0x<hash>
 *   raw-guest: done            (or raw-guest: FAIL <why>)
 * then PSCI SYSTEM_OFF over HVC. Built by tests/boot/test_guest_raw.py (freestanding, no libc). */

typedef unsigned long u64;
typedef unsigned int u32;
typedef unsigned char u8;

#define UART ((volatile u32 *)0x09000000UL)
#define BSS_BYTES (16u << 20)

static u8 big[BSS_BYTES];                       /* .bss: not in the file */
extern u8 __bss_start[], __bss_end[];

static void putc_(char c) { *UART = (u32)c; }
static void puts_(const char *s) { while (*s) putc_(*s++); }
static void puthex(u64 v)
{
    puts_("0x");
    for (int i = 60; i >= 0; i -= 4)
        putc_("0123456789abcdef"[(v >> i) & 0xF]);
}
static void putdec(u64 v)
{
    char buf[24];
    int n = 0;
    do { buf[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n) putc_(buf[--n]);
}

static u32 be32(const u8 *p) { return (u32)p[0] << 24 | (u32)p[1] << 16 | (u32)p[2] << 8 | p[3]; }
static u64 be_cells(const u8 *p, u32 len) { return len == 8 ? (u64)be32(p) << 32 | be32(p + 4) : be32(p); }
static int streq(const char *a, const char *b) { while (*a && *a == *b) { a++; b++; } return *a == *b; }

static void power_off(void)
{
    register u64 x0 __asm__("x0") = 0x84000008UL;
    __asm__ volatile("hvc #0" : "+r"(x0) :: "memory");
    for (;;) __asm__ volatile("wfi");
}

static void fail(const char *why)
{
    puts_("raw-guest: FAIL ");
    puts_(why);
    puts_("\n");
    power_off();
}

void raw_main(const u8 *dtb)
{
    u64 sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (u32 i = 0; i < BSS_BYTES; i++)          /* the guest's own use of its BSS */
        big[i] = (u8)(i * 13 + 7);
    for (u32 i = 0; i < BSS_BYTES; i += 4096)
        if (big[i] != (u8)(i * 13 + 7)) fail("bss does not hold what was written");
    puts_("raw-guest: bss ");
    puthex((u64)__bss_start);
    putc_('-');
    puthex((u64)__bss_end);
    puts_(" sp ");
    puthex(sp);
    puts_("\n");
    if (be32(dtb) != 0xd00dfeedu) fail("no DTB at x0");
    const u8 *st = dtb + be32(dtb + 8), *strs = dtb + be32(dtb + 12);
    const char *bootargs = 0;
    u64 istart = 0, iend = 0;
    int depth = 0, in_chosen = 0;
    for (const u8 *p = st;;) {
        u32 tok = be32(p);
        p += 4;
        if (tok == 1) {                          /* FDT_BEGIN_NODE: name, NUL, padded to 4 */
            const char *name = (const char *)p;
            depth++;
            in_chosen = depth == 2 && streq(name, "chosen");
            while (*p) p++;
            p = (const u8 *)(((u64)p + 4) & ~3UL);
        } else if (tok == 2) {                   /* FDT_END_NODE */
            depth--;
            in_chosen = 0;
        } else if (tok == 3) {                   /* FDT_PROP: len, nameoff, value */
            u32 len = be32(p), nameoff = be32(p + 4);
            const u8 *val = p + 8;
            const char *name = (const char *)strs + nameoff;
            if (in_chosen && streq(name, "bootargs")) bootargs = (const char *)val;
            if (in_chosen && streq(name, "linux,initrd-start")) istart = be_cells(val, len);
            if (in_chosen && streq(name, "linux,initrd-end")) iend = be_cells(val, len);
            p = val + ((len + 3) & ~3u);
        } else if (tok == 4) {                   /* FDT_NOP */
        } else {
            break;                               /* FDT_END */
        }
    }
    if (!bootargs) fail("no /chosen bootargs");
    puts_("raw-guest: bootargs ");
    puts_(bootargs);
    puts_("\n");
    if (!istart || iend <= istart) fail("no /chosen initrd");
    u32 h = 2166136261u;                         /* FNV-1a, 32 bits */
    for (const u8 *q = (const u8 *)istart; q < (const u8 *)iend; q++)
        h = (h ^ *q) * 16777619u;
    puts_("raw-guest: initrd ");
    puthex(istart);
    putc_(' ');
    putdec(iend - istart);
    puts_(" bytes fnv1a ");
    puthex(h);
    puts_("\n");
    puts_("raw-guest: done\n");
    power_off();
}

/* Entry, at the file's first byte: stack at the top of the BSS stack area, zero the BSS, keep x0. */
__asm__(
    ".section .text.start, \"ax\"\n"
    ".global _start\n"
    "_start:\n"
    "    mov x19, x0\n"
    "    ldr x1, =__stack_top\n"
    "    mov sp, x1\n"
    "    ldr x1, =__bss_start\n"
    "    ldr x2, =__bss_end\n"
    "1:  cmp x1, x2\n"
    "    b.hs 2f\n"
    "    str xzr, [x1], #8\n"
    "    b 1b\n"
    "2:  mov x0, x19\n"
    "    bl raw_main\n"
    "3:  b 3b\n"
    ".ltorg\n");
