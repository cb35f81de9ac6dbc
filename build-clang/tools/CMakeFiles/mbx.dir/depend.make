# Empty dependencies file for mbx.
# This may be replaced when dependencies are built.
