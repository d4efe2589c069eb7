"""MAiVAR: Multimodal Audio-Image and Video Action Recognizer: tables, claims and models."""
