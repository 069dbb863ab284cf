// A web app's use of an exported classifier, and nothing more: MediaPipe's ImageClassifier given the model path and
// maxResults (the labels and the pixel normalisation come from the file's metadata). Served with the
// @mediapipe/tasks-vision package copied to ./tasks-vision/ and the file as ./model.tflite (export/clients/web.py).
import {FilesetResolver, ImageClassifier} from './tasks-vision/vision_bundle.mjs';

const status = document.getElementById('status');

async function create() {
  const fileset = await FilesetResolver.forVisionTasks('./tasks-vision/wasm');
  return ImageClassifier.createFromOptions(fileset, {
    baseOptions: {modelAssetPath: './model.tflite', delegate: 'CPU'},
    runningMode: 'IMAGE',
    maxResults: -1,
  });
}

const ready = create();
ready.then(() => { status.textContent = 'ready'; }, (e) => { status.textContent = `failed: ${e}`; });

// images: flat RGBA pixel lists of width x height -> per image the categories as MediaPipe orders them, and the
// milliseconds of each classify call
async function classify(width, height, images) {
  const classifier = await ready;
  return images.map((flat) => {
    const image = new ImageData(new Uint8ClampedArray(flat), width, height);
    const start = performance.now();
    const found = classifier.classify(image);
    const ms = performance.now() - start;
    const categories = found.classifications[0].categories.map((c) => ({index: c.index, name: c.categoryName,
                                                                         score: c.score}));
    return {categories, ms};
  });
}

window.mediapipe = {ready, classify};
