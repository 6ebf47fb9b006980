python3 scripts/export_torch.py transformer.pt --name torch_transformer_module --weights model.safetensors --spec model.xf --causal
