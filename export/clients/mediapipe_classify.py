"""Classify images with MediaPipe Tasks' ImageClassifier, as an app does: the model path and max_results, nothing
else. Runs in MediaPipe's own environment (requirements/mediapipe-client.txt), not the zoo's:

    .venv-mediapipe/bin/python export/clients/mediapipe_classify.py model_rgb_float32.tflite images.npy out.json

images.npy: uint8 (count, height, width, 3) RGB pixels. out.json: per image the categories (index, name, score) in
the order MediaPipe gives them, and the milliseconds of each classify call.
"""

import json
import sys
import time

import numpy as np


def main(model_path: str, images_path: str, out_path: str, max_results: int = -1) -> int:
    import mediapipe as mp
    from mediapipe.tasks import python as tasks
    from mediapipe.tasks.python import vision

    options = vision.ImageClassifierOptions(base_options=tasks.BaseOptions(model_asset_path=model_path),
                                            max_results=max_results)
    images = np.load(images_path)
    results, times = [], []
    with vision.ImageClassifier.create_from_options(options) as classifier:
        for pixels in images:
            image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(pixels))
            start = time.perf_counter()
            found = classifier.classify(image)
            times.append((time.perf_counter() - start) * 1000)
            results.append([{"index": c.index, "name": c.category_name, "score": c.score}
                            for c in found.classifications[0].categories])
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump({"mediapipe": mp.__version__, "results": results, "ms": times}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4], *(int(v) for v in sys.argv[4:5])))
