# Empty dependencies file for loan_modes_test.
# This may be replaced when dependencies are built.
