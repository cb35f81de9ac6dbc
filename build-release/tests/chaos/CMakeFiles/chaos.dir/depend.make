# Empty dependencies file for chaos.
# This may be replaced when dependencies are built.
