"""Neural models: torch modules for training and export (torch is a train/dev extra), engines to run them."""
