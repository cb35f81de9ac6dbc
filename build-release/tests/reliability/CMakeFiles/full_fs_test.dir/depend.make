# Empty dependencies file for full_fs_test.
# This may be replaced when dependencies are built.
