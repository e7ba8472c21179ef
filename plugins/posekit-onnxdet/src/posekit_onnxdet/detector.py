"""``ONNXDetector``: person boxes from a user-supplied ONNX detection model (see the README for layouts).

Dimensions: A candidates, C classes, N kept boxes. ``input_size`` is the model input (w, h);
boxes come back in original image pixels, xyxy.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

Layout = Literal["auto", "yolox", "dets"]


class ONNXDetector:
    """Detect people with an ONNX model run by onnxruntime (YOLOX- or RTMDet-style outputs).

    ``detector(img)`` takes an ``(H, W, 3)`` uint8 BGR image and returns ``boxes (N, 4)`` xyxy in
    image pixels and ``scores (N,)``, best first.

    Args:
        model_path: the ``.onnx`` file.
        input_size: the model input (w, h) (default (640, 640)); a static input shape in the file wins.
        layout: ``yolox``, ``dets`` or ``auto`` (default; see the README).
        score_thr: drop candidates scoring at or below this (default 0.3).
        nms_thr: IoU above which the lower-scoring of two boxes is suppressed (default 0.45).
        person_class: the class index of "person" (default 0, as in COCO-trained detectors).
        max_detections: keep at most this many boxes (default 100).
        mean: per-channel mean subtracted from 0..255 pixels (in the fed channel order); None: none.
        std: per-channel std the pixels are divided by; None: none.
        bgr_to_rgb: feed RGB instead of OpenCV's BGR (default False).
        pad_value: letterbox fill value (default 114).
        providers: onnxruntime execution providers (default: CUDA when available, else CPU).
        num_threads: onnxruntime intra-op threads (default 0: all cores).
    """

    def __init__(
        self,
        model_path: str,
        input_size: tuple[int, int] = (640, 640),
        layout: Layout = "auto",
        score_thr: float = 0.3,
        nms_thr: float = 0.45,
        person_class: int = 0,
        max_detections: int = 100,
        mean: tuple[float, float, float] | None = None,
        std: tuple[float, float, float] | None = None,
        bgr_to_rgb: bool = False,
        pad_value: int = 114,
        providers: tuple[str, ...] | None = None,
        num_threads: int = 0,
    ) -> None:
        import onnxruntime as ort

        if (mean is None) != (std is None):
            raise ValueError("ONNXDetector: give both mean and std, or neither")
        options = ort.SessionOptions()
        options.intra_op_num_threads = num_threads
        available = ort.get_available_providers()
        chosen = providers or tuple(p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available)
        try:
            self.session = ort.InferenceSession(model_path, options, providers=list(chosen))
        except Exception as e:
            raise ValueError(f"ONNXDetector: cannot load {model_path!r} with onnxruntime: {e}") from e
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        h, w = inp.shape[2:4] if len(inp.shape) == 4 else (None, None)
        self.input_size = (w, h) if isinstance(w, int) and isinstance(h, int) else tuple(input_size)
        self.layout = layout if layout != "auto" else self._guess_layout()
        self.model_path = model_path
        self.score_thr = score_thr
        self.nms_thr = nms_thr
        self.person_class = person_class
        self.max_detections = max_detections
        self.mean = np.asarray(mean, np.float32).reshape(1, 3, 1, 1) if mean is not None else None
        self.std = np.asarray(std, np.float32).reshape(1, 3, 1, 1) if std is not None else None
        self.bgr_to_rgb = bgr_to_rgb
        self.pad_value = pad_value

    def _guess_layout(self) -> Layout:
        outputs = self.session.get_outputs()
        last = outputs[0].shape[-1]
        return "dets" if len(outputs) == 2 or last == 5 else "yolox"

    def preprocess(self, img: np.ndarray) -> tuple[np.ndarray, float]:
        """Letterbox ``img`` into the model input: ``(1, 3, h, w)`` float32 and the resize ratio."""
        w, h = self.input_size
        ratio = min(w / img.shape[1], h / img.shape[0])
        new_w, new_h = max(1, round(img.shape[1] * ratio)), max(1, round(img.shape[0] * ratio))
        canvas = np.full((h, w, 3), self.pad_value, dtype=np.uint8)
        canvas[:new_h, :new_w] = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        if self.bgr_to_rgb:
            canvas = canvas[..., ::-1]
        x = canvas.transpose(2, 0, 1)[None].astype(np.float32)
        if self.mean is not None and self.std is not None:
            x = (x - self.mean) / self.std
        return np.ascontiguousarray(x), ratio

    def _candidates(self, outputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """``(A, 4)`` xyxy boxes in input pixels and ``(A,)`` person scores."""
        if self.layout == "yolox":
            pred = np.asarray(outputs[0], np.float32).reshape(-1, outputs[0].shape[-1])
            if pred.shape[1] < 6 or self.person_class >= pred.shape[1] - 5:
                raise ValueError(
                    f"ONNXDetector({self.model_path}): the yolox layout needs (1, A, 5 + C) with person_class "
                    f"{self.person_class} < C; got output shape {outputs[0].shape}"
                )
            cxcy, wh = pred[:, :2], pred[:, 2:4]
            boxes = np.concatenate([cxcy - wh / 2, cxcy + wh / 2], axis=1)
            return boxes, pred[:, 4] * pred[:, 5 + self.person_class]
        dets = np.asarray(outputs[0], np.float32).reshape(-1, outputs[0].shape[-1])
        if dets.shape[1] != 5:
            raise ValueError(
                f"ONNXDetector({self.model_path}): the dets layout needs dets (1, N, 5) [x1, y1, x2, y2, score]; "
                f"got output shape {outputs[0].shape}"
            )
        scores = dets[:, 4].copy()
        if len(outputs) > 1:
            labels = np.asarray(outputs[1]).reshape(-1)
            scores[labels != self.person_class] = 0.0
        return dets[:, :4], scores

    def __call__(self, img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"ONNXDetector: img must be (H, W, 3) BGR, got shape {img.shape}")
        x, ratio = self.preprocess(img)
        boxes, scores = self._candidates(self.session.run(None, {self.input_name: x}))
        keep = scores > self.score_thr
        boxes, scores = boxes[keep], scores[keep]
        if len(boxes):
            xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
            idx = np.asarray(cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), self.score_thr, self.nms_thr)).reshape(-1)
            idx = idx[np.argsort(-scores[idx], kind="stable")][: self.max_detections]
            boxes, scores = boxes[idx], scores[idx]
        h, w = img.shape[:2]
        boxes = np.clip(boxes / ratio, 0, [w, h, w, h]).astype(np.float32)
        return boxes.reshape(-1, 4), scores.astype(np.float32)
