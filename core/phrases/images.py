"""Images: refusals, the vision switch-up, the OCR fallback, the budget note, /docs lines."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "image_format": {
        "en": "“{name}”: unsupported image format; send PNG, JPEG, WebP or GIF.",
        "zh": "“{name}”：不支持这种图片格式，请发送 PNG、JPEG、WebP 或 GIF。",
    },
    "image_corrupt": {
        "en": "“{name}” could not be read as an image (damaged, or not really an image). "
        "Please send it again.",
        "zh": "“{name}”无法作为图片读取（文件已损坏，或并不是图片）。请重新发送。",
    },
    "image_animated": {
        "en": "“{name}” is animated, and animations are not supported; send a still image.",
        "zh": "“{name}”是动图，暂不支持动图；请发送静态图片。",
    },
    "image_too_big": {
        "en": "“{name}” is too large; the limit is {limit:.0f} MB per image.",
        "zh": "“{name}”太大了，每张图片的上限是 {limit:.0f} MB。",
    },
    "image_too_many_pixels": {
        "en": "“{name}” has too many pixels to process; send a smaller image.",
        "zh": "“{name}”的像素太多，无法处理；请发送尺寸更小的图片。",
    },
    "image_question": {"en": "What is in this image?", "zh": "这张图片里有什么？"},
    "images_question": {"en": "What is in these images?", "zh": "这些图片里有什么？"},
    "image_model_switch": {
        "en": "{model} cannot see images, so I'm using {vision} to look at the image.",
        "zh": "{model} 无法查看图片，所以我改用 {vision} 来看这张图片。",
    },
    "image_ocr_fallback": {
        "en": "No vision model is available, so I read the image as text (OCR) instead of "
        "looking at it.",
        "zh": "当前没有可用的视觉模型，所以我把图片当作文字（OCR）读取，而不是直接查看图片。",
    },
    "images_dropped": {
        "en": "{count} earlier image(s) no longer shown (image budget).",
        "zh": "有 {count} 张较早的图片已不再显示（图片额度）。",
    },
    "images_title": {"en": "Images in this conversation:", "zh": "本对话中的图片："},
    "images_line": {
        "en": "image #{number} {name} — {width}×{height}, {size}, added by {who} on {when}",
        "zh": "图片 #{number} {name} — {width}×{height}，{size}，由 {who} 于 {when} 添加",
    },
    "image_forget_missing": {
        "en": "There is no image #{number} here. See /docs.",
        "zh": "这里没有 #{number} 号图片。请用 /docs 查看。",
    },
    "image_forget_done": {
        "en": "Removed image #{number} from this conversation.",
        "zh": "已从本对话中移除 #{number} 号图片。",
    },
    "forget_all_images_done": {
        "en": "Removed all {count} document(s) and image(s) from this conversation.",
        "zh": "已从本对话中移除全部 {count} 个文档和图片。",
    },
    "forget_usage_images": {
        "en": "Usage: /forget N (a document number from /docs), /forget image N, or /forget all",
        "zh": "用法：/forget N（/docs 列出的文档编号）、/forget image N 或 /forget all",
    },
}
