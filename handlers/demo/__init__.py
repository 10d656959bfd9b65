"""``pushpool demo``: the whole product on one laptop, in one command."""
