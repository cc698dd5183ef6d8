"""The anchor frameworks of `bench overhead`: their venvs, run scripts and the shared script."""
