"""manifestc: compile a pipeline manifest into linted AWS CloudFormation."""

__version__ = "0.1.0"
