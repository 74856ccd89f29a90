"""Findings of the differential tests that are not fixed yet: corpus function id ("module.name") or whole
module -> what goes wrong. The tests mark these xfail(strict=True), so an entry must be removed as soon as the
construct works; the corpus itself is never weakened to hide a finding."""
from __future__ import annotations

# function id ("module.name") or module name -> reason. Filled from real findings only; strict xfail, so an
# entry must go as soon as the construct works.
_BOOL_OF_INT = ("prelude: bool(v) on a fixed-width int raises TypeError under CPython (ints.py __bool__), "
                "but dialect.md §1 says bool(v) is v != 0; the compiler accepts it and the C computes v != 0")
KNOWN_MISMATCHES: dict[str, str] = {
    **{f"ints_{t}.truth_{t}": _BOOL_OF_INT for t in ("u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64")},
    "range_literals": "compiler rejects for-range loops whose bounds are all literals ('range bounds need a "
                      "type'), dialect.md §2 allows literal bounds",
    "loop_underscore": "compiler emits `u8 _ = 0;` for `for _ in range(n)`, so gcc -Wall -Wextra -Werror fails "
                       "with unused-but-set-variable",
    "complement_compare": "compiler emits `return ((u16)~a) > b;` for `~a > b` on u8/u16: gcc -Wsign-compare "
                          "('comparison of promoted bitwise complement of an unsigned value with unsigned') "
                          "fails the -Werror build (the value is right: the cast narrows)",
    "array_refs": "compiler rejects array-typed names that CPython accepts: `b = t.raw` ('arrays are not "
                  "assignable'), parameters `Array[u8]` ('needs a length') and `Annotated[Array[u8], 8]` "
                  "('a parameter cannot have type'); dialect.md §4 does not say either way",
}
