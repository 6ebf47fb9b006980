python3 scripts/export_torch.py classifier_state.pt --name torch_encoder_state_dict --weights model.safetensors --spec model.xf --nhead 3 --activation relu --post-norm
