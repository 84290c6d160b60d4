"""Packaging for manifestc: the compiler lives in compiler/manifestc, its data in schemas/."""

from setuptools import setup

setup(
    name="manifestc",
    version="0.1.0",
    description="Compile a short YAML pipeline manifest into linted AWS CloudFormation",
    python_requires=">=3.11",
    package_dir={"manifestc": "compiler/manifestc", "manifestc.schemas": "schemas"},
    packages=["manifestc", "manifestc.emit", "manifestc.check", "manifestc.schemas"],
    package_data={"manifestc.schemas": ["*.yaml"]},
    install_requires=[
        "troposphere>=4.8,<5",
        "awacs>=2.4,<3",
        "PyYAML>=6.0,<7",
        "Cerberus>=1.3.5,<2",
        "cfn-lint>=1.58,<1.59",  # lint.py reuses cfn-lint internals (Runner rules, run_template_by_data)
        "click>=8.1,<9",
        "packaging>=23",
    ],
    extras_require={
        "test": ["pytest>=8", "pytest-xdist>=3.5", "checkov>=3.2", "ruff>=0.6", "boto3>=1.34", "moto[server]>=5", "jsonschema>=4.18", "hypothesis>=6.100", "pygls>=2,<3"],
        "publish": ["boto3>=1.34"],
        "lsp": ["pygls>=2,<3"],
    },
    entry_points={"console_scripts": ["manifestc=manifestc.cli:run"]},
)
