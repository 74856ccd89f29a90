# The C build's panic path: the compiler lowers `panic("msg")` and failed `assert`s to
# panic_at(file, line, msg), which prints "PANIC at file:line: msg" and parks the CPU for good.
# (Under CPython the prelude's `panic` raises Panic instead and never reaches this function.)
# It takes the console line lock with a bounded wait, so a CPU that dies while printing still reports.

from pyhv.lang import u32, u64, wfe

from pyhv.core.printk import printk_begin_panic, printk_end, printk_str, printk_udec


def panic_at(file: str, line: u32, msg: str) -> None:
    printk_begin_panic()
    printk_str("PANIC at ")
    printk_str(file)
    printk_str(":")
    printk_udec(u64(line))
    printk_str(": ")
    printk_str(msg)
    printk_str("\n")
    printk_end()
    while True:
        wfe()
