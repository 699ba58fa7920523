"""normcli: normalize array datasets for training neural networks, and prove what it did."""

__version__ = "0.1.0"
