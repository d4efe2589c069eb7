"""Data: dataset layouts, decoding, sampling protocols, transforms, audio images, optical flow and a
synthetic dataset generator. Submodules import their heavy dependencies (decord, librosa, cv2) lazily."""
