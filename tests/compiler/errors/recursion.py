# Recursion, direct or indirect, is reported with its cycle.
from pyhv.lang import u32


def ping(n: u32) -> u32:
    return pong(n)  # error@12: recursion is not dialect: ping -> pong -> ping


def pong(n: u32) -> u32:
    return ping(n)
