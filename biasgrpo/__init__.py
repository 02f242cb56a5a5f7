"""BiasGRPO: fine-tune language models to be less socially biased, and measure it."""
