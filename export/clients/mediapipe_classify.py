"""Classify images with MediaPipe Tasks' ImageClassifier, or texts with its TextClassifier, as an app does: the model
path and max_results, nothing else. Runs in MediaPipe's own environment (requirements/mediapipe-client.txt), not the
zoo's:

    .venv-mediapipe/bin/python export/clients/mediapipe_classify.py model_rgb_float32.tflite images.npy out.json
    .venv-mediapipe/bin/python export/clients/mediapipe_classify.py model_float32.tflite texts.json out.json

images.npy: uint8 (count, height, width, 3) RGB pixels; texts.json: a list of strings. out.json: per input the
categories (index, name, score) in the order MediaPipe gives them, and the milliseconds of each classify call.
"""

import json
import sys
import time

import numpy as np


def classifier(model_path: str, texts: bool, max_results: int):
    from mediapipe.tasks import python as tasks

    base = tasks.BaseOptions(model_asset_path=model_path)
    if texts:
        from mediapipe.tasks.python import text

        return text.TextClassifier.create_from_options(text.TextClassifierOptions(base_options=base,
                                                                                  max_results=max_results))
    from mediapipe.tasks.python import vision

    return vision.ImageClassifier.create_from_options(vision.ImageClassifierOptions(base_options=base,
                                                                                    max_results=max_results))


def main(model_path: str, inputs_path: str, out_path: str, max_results: int = -1) -> int:
    import mediapipe as mp

    texts = inputs_path.endswith(".json")
    if texts:
        with open(inputs_path, encoding="utf-8") as f:
            inputs = json.load(f)
    else:
        inputs = [mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(pixels))
                  for pixels in np.load(inputs_path)]
    results, times = [], []
    with classifier(model_path, texts, max_results) as task:
        for item in inputs:
            start = time.perf_counter()
            found = task.classify(item)
            times.append((time.perf_counter() - start) * 1000)
            results.append([{"index": c.index, "name": c.category_name, "score": c.score}
                            for c in found.classifications[0].categories])
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump({"mediapipe": mp.__version__, "results": results, "ms": times}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4], *(int(v) for v in sys.argv[4:5])))
