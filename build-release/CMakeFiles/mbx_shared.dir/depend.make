# Empty dependencies file for mbx_shared.
# This may be replaced when dependencies are built.
