"""Tools for analysts on top of the pure core: `spc_csv` is the `pipeline spc` command."""
