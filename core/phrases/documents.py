"""Documents: refusals before upload, extraction problems, acknowledgements, model switches."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "doc_empty": {
        "en": "“{name}” is empty (0 bytes), so there is nothing to read.",
        "zh": "“{name}”是空文件（0 字节），没有可以读取的内容。",
    },
    "doc_too_big": {
        "en": "“{name}” is {size:.1f} MB; the limit is {limit} MB per file.",
        "zh": "“{name}”大小为 {size:.1f} MB，超过了每个文件 {limit} MB 的上限。",
    },
    "doc_format": {
        "en": "“{name}” is not a format Kimi can read. Send PDF, Word, Excel, PowerPoint, "
        "TXT, Markdown, CSV, EPUB, HTML, JSON, code files or images.",
        "zh": "Kimi 无法读取“{name}”这种格式。请发送 PDF、Word、Excel、PowerPoint、TXT、"
        "Markdown、CSV、EPUB、HTML、JSON、代码文件或图片。",
    },
    "doc_unreadable": {
        "en": "I could not read “{name}”: Moonshot failed to extract its text ({detail}). "
        "Check that the file opens and is not password-protected, or send another format.",
        "zh": "我无法读取“{name}”：Moonshot 没能提取其中的文字（{detail}）。"
        "请确认文件可以正常打开且没有设置密码，或者换一种格式发送。",
    },
    "doc_failed": {"en": "“{name}”: {reason}", "zh": "“{name}”：{reason}"},
    "doc_added": {
        "en": "Added “{name}” as document #{number} ({tokens:,} tokens).",
        "zh": "已添加“{name}”，编号 #{number}（{tokens:,} 个 token）。",
    },
    "doc_known": {
        "en": "“{name}” is already document #{number} in this conversation ({tokens:,} tokens).",
        "zh": "“{name}”已经是本对话中的 #{number} 号文档（{tokens:,} 个 token）。",
    },
    "doc_model_switch": {
        "en": "The documents need about {tokens:,} tokens, more than {model} can hold, so I'm "
        "using {bigger} ({window}K window) for them.",
        "zh": "这些文档大约需要 {tokens:,} 个 token，超出了 {model} 的容量，"
        "所以我改用 {bigger}（{window}K 上下文窗口）来处理。",
    },
    "doc_sources": {
        "en": "Sources (the documents exceed every model's window, so I read the most relevant "
        "parts): {listed}",
        "zh": "来源（文档超出了所有模型的上下文窗口，所以我只读取了最相关的部分）：{listed}",
    },
    "doc_section": {"en": "section {number}", "zh": "第 {number} 节"},
}
