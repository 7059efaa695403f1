"""The Fine-tune tab (``tab``) and its parts: the photos given (``samples``, ``preview``), the training curves
(``curves``), the result's pictures (``pictures``) and mistakes (``mistakes``), and the model to download (``download``)."""
