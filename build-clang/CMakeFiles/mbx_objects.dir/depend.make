# Empty dependencies file for mbx_objects.
# This may be replaced when dependencies are built.
