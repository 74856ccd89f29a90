"""The per-node statistics table printed after a cluster VM run."""

from pyhv.host.stats_table import format_table, merge_stats, parse_stats


def test_stats_lines_are_collected_per_node_and_group() -> None:
    text = ("vm: something else\r\n"
            "stats: node 1 dsm read_faults=12 write_faults=3\n"
            "stats: node 0 dsm read_faults=5 write_faults=0\n"
            "stats: node 1 net retransmits=7\n"
            "stats: node 1 dsm read_faults=14 write_faults=3\n")
    s = parse_stats(text)
    assert sorted(s) == [0, 1]
    assert s[1].values[("dsm", "read_faults")] == 14      # the last line of a group wins
    assert s[1].values[("net", "retransmits")] == 7
    assert s[0].values[("dsm", "write_faults")] == 0


def test_lines_that_are_not_stats_are_ignored() -> None:
    assert parse_stats("stats: node x dsm a=1\nstats: node 1 dsm a=b\nstats node 1 dsm a=1\n") == {}


def test_table_has_a_row_per_counter_and_a_column_per_node() -> None:
    s = merge_stats([parse_stats("stats: node 0 dsm faults=5\n"),
                     parse_stats("stats: node 1 dsm faults=123\nstats: node 1 net rx=9\n")])
    lines = format_table(s).splitlines()
    assert lines[0].split() == ["counter", "node", "0", "node", "1"]
    assert lines[1].split() == ["dsm.faults", "5", "123"]
    assert lines[2].split() == ["net.rx", "-", "9"]


def test_no_statistics_is_said_plainly() -> None:
    assert "no statistics" in format_table({})
