"""The Inside the network tab (``tab``): the diagram of any ResNet, and what a checkpoint computes on one photo."""
