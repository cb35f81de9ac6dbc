# Empty dependencies file for example_round_robin.
# This may be replaced when dependencies are built.
