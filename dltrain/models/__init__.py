"""Model architectures. Every model returns raw logits (no softmax) and declares its task."""
