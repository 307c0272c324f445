"""Renders a contiguous slice of synthetic scenes into the .npy files `SyntheticScenes.arrays` made for it.

``python -m vms_zoo.data.synthetic_worker FOLDER CONFIG_JSON SPLIT START STOP``. It imports numpy and scipy
only, so it starts in well under a second and shares no framework threads with its parent.
"""

import json
import os
import sys

import numpy as np

from vms_zoo.data.synthetic import SyntheticScenes


def main(folder, config, split, start, stop):
    scenes = SyntheticScenes(**json.loads(config))
    images, vms, categories = (np.load(os.path.join(folder, f"{key}.npy"), mmap_mode="r+")
                               for key in ("images", "vms", "categories"))
    for i in range(int(start), int(stop)):
        images[i], vms[i], category = scenes.scene(i, split)
        categories[i] = category  # written last: the parent counts categories >= 0 as scenes done


if __name__ == "__main__":
    main(*sys.argv[1:])
