# Empty dependencies file for mbx_static.
# This may be replaced when dependencies are built.
