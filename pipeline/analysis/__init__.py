"""Tools for analysts on top of the pure core: `spc_csv` charts a CSV column (`pipeline spc`)."""
