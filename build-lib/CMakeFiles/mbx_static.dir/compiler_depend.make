# Empty compiler generated dependencies file for mbx_static.
# This may be replaced when dependencies are built.
