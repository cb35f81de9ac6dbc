# Empty dependencies file for reboot_test.
# This may be replaced when dependencies are built.
