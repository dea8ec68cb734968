"""The generator's tensor layout, shared by the runtime and the torch training code (no torch here).

Input (B, IN_CHANNELS, S, S): masked crop in [-1, 1] with the face region zeroed (3), the mask (1), five
sketch channels of the (identity-swapped) dense landmarks (5), a noise map (1). Output (B, 3, S, S).
"""

IMAGE_CHANNELS = 3
MASK_CHANNELS = 1
SKETCH_CHANNELS = 5
NOISE_CHANNELS = 1
IN_CHANNELS = IMAGE_CHANNELS + MASK_CHANNELS + SKETCH_CHANNELS + NOISE_CHANNELS
OUT_CHANNELS = 3
