"""ResNet Studio (placeholder): the full app arrives with its own issue."""

import gradio as gr

with gr.Blocks(title="ResNet Studio") as demo:
    gr.Markdown("# ResNet Studio\nArchitecture, Classify and Fine-tune tabs are coming.")

if __name__ == "__main__":
    demo.launch()
