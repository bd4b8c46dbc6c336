"""Statistics (issue 10): the register of figures counted from the cases and events, and a
rollup cache of its summable figures that the scheduler keeps and anyone can rebuild."""
