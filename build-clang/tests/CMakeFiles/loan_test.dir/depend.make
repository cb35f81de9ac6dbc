# Empty dependencies file for loan_test.
# This may be replaced when dependencies are built.
