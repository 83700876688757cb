"""The system measured as a whole: composed attempts through the service's own decide(), and the decision policy it ships."""
